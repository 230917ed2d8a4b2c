// Reconnect delay after Centrifugo's client SDK spec: full jitter on top of a floor,
// min(max, min + random(0, min(max, min * 2^step))), step capped at 31.

/**
 * @param {number} step attempts since the last `ready` (0 for the first retry)
 * @param {number} minDelay ms
 * @param {number} maxDelay ms
 * @param {() => number} random uniform in [0, 1)
 */
export function backoff(step, minDelay, maxDelay, random) {
  const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(step, 31));
  return Math.min(maxDelay, minDelay + Math.floor(random() * ceiling));
}
