// The Date header line for the hot path, refreshed by one shared timer (at most once a second)
// instead of being formatted for every request.

let dateLine = ''
let timer: NodeJS.Timeout | null = null

function tick(): void {
  dateLine = `Date: ${new Date().toUTCString()}\r\n`
}

function start(): void {
  tick()
  // Align the refresh with the start of each second so the header is never a second behind.
  timer = setTimeout(() => {
    tick()
    timer = setInterval(tick, 1000)
    timer.unref()
  }, 1000 - (Date.now() % 1000))
  timer.unref()
}

/** `Date: <IMF-fixdate>\r\n` for the current second. */
export function httpDate(): string {
  if (timer === null) start()
  return dateLine
}
