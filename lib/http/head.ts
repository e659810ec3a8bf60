/**
 * A parsed request head. Field names and values are not decoded: `fields` holds offsets into
 * `data` (name start, name end, value start, value end; four numbers a field), so a request
 * whose headers are never read costs no strings.
 */
export class RequestHead {
  constructor(
    readonly data: Buffer,
    readonly method: string,
    readonly url: string,
    /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
    readonly versionMinor: number,
    readonly fields: number[],
    /** -1 when there is no Content-Length. */
    readonly contentLength: number,
    readonly chunked: boolean,
    readonly keepAlive: boolean,
    readonly expectContinue: boolean,
    /** An HTTP/1.1 request with `Upgrade` listed in `Connection` (RFC 9110 section 7.8). */
    readonly upgrade: boolean,
  ) {}

  get fieldCount(): number {
    return this.fields.length >> 2
  }

  name(i: number): string {
    const f = this.fields
    return this.data.toString('latin1', f[i << 2], f[(i << 2) + 1])
  }

  value(i: number): string {
    const f = this.fields
    return this.data.toString('latin1', f[(i << 2) + 2], f[(i << 2) + 3])
  }

  /** Index of the first field at or after `from` named `lowerName` (lower-case), or -1. */
  find(lowerName: string, from = 0): number {
    const f = this.fields
    const data = this.data
    const length = lowerName.length
    outer: for (let i = from << 2; i < f.length; i += 4) {
      const start = f[i]
      if (f[i + 1] - start !== length) continue
      for (let j = 0; j < length; j++) {
        let c = data[start + j]
        if (c >= 65 && c <= 90) c |= 0x20
        if (c !== lowerName.charCodeAt(j)) continue outer
      }
      return i >> 2
    }
    return -1
  }
}
