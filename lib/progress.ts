// How a transfer moves, as the once-a-second sweep sees it: when its bytes last moved (for the
// stall timeouts) and their average rate (for the minimum data rate, judged as Kestrel does: the
// bytes over the whole time, once a grace period has passed).

export class Progress {
  /** The byte counter at the last look, and when that was (0: no look yet). */
  private mark: number
  private sweptAt: number
  /** When the counter last moved. */
  private movedAt: number
  /** The time and bytes the rate is judged on. */
  private time: number
  private bytes: number

  constructor() {
    this.mark = 0
    this.sweptAt = 0
    this.movedAt = 0
    this.time = 0
    this.bytes = 0
  }

  /** A new transfer: the next look starts the clock. */
  restart(): void {
    this.sweptAt = 0
  }

  /** A look while the transfer is held up by us: what passes until the next look does not count. */
  hold(count: number, now: number): void {
    if (this.sweptAt === 0) {
      this.start(count, now)
      return
    }
    this.mark = count
    this.sweptAt = now
    this.movedAt = now
  }

  /** A look at the transfer's byte counter (bytes read, or bytes passed on to the kernel). */
  look(count: number, now: number): void {
    if (this.sweptAt === 0) {
      this.start(count, now)
      return
    }
    const moved = count - this.mark
    this.time += now - this.sweptAt
    this.bytes += moved
    this.mark = count
    this.sweptAt = now
    if (moved > 0) this.movedAt = now
  }

  /** Milliseconds since the bytes last moved. */
  stalledFor(now: number): number {
    return now - this.movedAt
  }

  /** Past `grace` ms, fewer bytes than `rate` a second on average; a rate of 0 is off. */
  below(rate: number, grace: number): boolean {
    return rate > 0 && this.time > grace && this.bytes * 1000 < rate * this.time
  }

  private start(count: number, now: number): void {
    this.mark = count
    this.sweptAt = now
    this.movedAt = now
    this.time = 0
    this.bytes = 0
  }
}
