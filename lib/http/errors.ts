/**
 * An error that reaches the client as a response: `status` is the HTTP status code and
 * `message` the one-line reason sent as the body. Anything else thrown is a bug and is logged.
 */
export class HttpError extends Error {
  readonly status: number
  /** Extra header lines for the error response (`Retry-After: 1\r\n`), or ''. */
  readonly headers: string

  constructor(status: number, message: string, headers = '') {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.headers = headers
  }
}
