/**
 * An error that reaches the client as a response: `status` is the HTTP status code and
 * `message` the one-line reason sent as the body. Anything else thrown is a bug and is logged.
 */
export class HttpError extends Error {
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
  }
}
