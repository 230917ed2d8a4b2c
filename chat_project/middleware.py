"""The project's own Django middleware (the request path itself: chat_project/sync_chain.py)."""


class ReleaseRenderedData:
    """Let a rendered REST response's data go when the response goes, not at the collector's next full pass.

    DRF's Response refers to itself (``renderer_context["response"]``) and to
    its view, which refers back (``view.response``): every response is a
    reference cycle, and the page it rendered hangs from it. A ``sync`` page
    of 500 messages left 1,593 objects (the messages' dicts and lists) for
    CPython's cycle collector. They piled up in the oldest generation, and
    each full collection that freed them stopped the process for 6-13 ms: the
    p99 of ``sync`` and ``offline`` over HTTP sat about 13 ms above their p50
    (docs/benchmarks.md, "Warm reads at 10 million messages"). Once the body
    is rendered nothing reads ``data`` or ``renderer_context`` again, so
    both are dropped here and the page is freed by its reference count.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(response, "is_rendered", False) and getattr(response, "renderer_context", None) is not None:
            response.data = None
            response.renderer_context = None
        return response
