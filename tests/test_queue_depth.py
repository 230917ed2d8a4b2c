"""The realtime queue's depth, read from a real Redis broker as kombu keeps it (chat_project/common/queue_depth.py).

RabbitMQ's reading is in tests/test_rabbitmq.py, beside its vhost.
"""

import secrets

from django.conf import settings
from kombu import Connection, Exchange, Producer, Queue

from chat_project.common.queue_depth import QueueDepth


def test_the_depth_counts_tasks_of_every_priority_in_kombu_s_lists_under_the_broker_prefix():
    prefix = f"depth-{secrets.token_hex(4)}:"
    options = {"global_keyprefix": prefix}
    reader = QueueDepth(settings.CELERY_BROKER_URL, "realtime", prefix)
    other_prefix = QueueDepth(settings.CELERY_BROKER_URL, "realtime", prefix + "x:")
    queue = Queue("realtime", Exchange("realtime", type="direct"), routing_key="realtime")
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
        try:
            assert reader.read() == 0
            producer = Producer(connection.default_channel)
            for priority in (0, 0, 3, 9, 5):
                producer.publish({"n": priority}, exchange=queue.exchange, routing_key="realtime",
                                 declare=[queue], priority=priority)  # fmt: skip
            assert reader.read() == 5
            assert other_prefix.read() == 0
            queue.bind(connection.default_channel).get(no_ack=True)  # a basic.get: one task taken
            assert reader.read() == 4
        finally:
            queue.bind(connection.default_channel).delete()
            reader.close()
            other_prefix.close()
    assert QueueDepth(settings.CELERY_BROKER_URL, "realtime", prefix).read() == 0
