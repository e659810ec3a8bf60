// Coarse time for the hot path: the Date header line and "now" in milliseconds, refreshed by one
// shared timer (at most once a second) instead of being computed for every request.

let dateLine = ''
let nowMs = 0
let timer: NodeJS.Timeout | null = null

function tick(): void {
  const now = new Date()
  nowMs = now.getTime()
  dateLine = `Date: ${now.toUTCString()}\r\n`
}

function start(): void {
  tick()
  // Align the refresh with the start of each second so the header is never a second behind.
  timer = setTimeout(() => {
    tick()
    timer = setInterval(tick, 1000)
    timer.unref()
  }, 1000 - (nowMs % 1000))
  timer.unref()
}

/** `Date: <IMF-fixdate>\r\n` for the current second. */
export function httpDate(): string {
  if (timer === null) start()
  return dateLine
}

/** Milliseconds since the epoch, accurate to about a second. */
export function now(): number {
  if (timer === null) start()
  return nowMs
}
