// The native interface: an app is `(req, res) => void | Promise<void>`, node:http style.
import type { Request } from '../request.js'
import type { Response } from '../response.js'

export type App = (req: Request, res: Response) => void | Promise<void>

/** Calls `app`; a throw or a rejection goes to `onError` (the server answers 500 or closes). */
export function invokeNative(
  app: App,
  req: Request,
  res: Response,
  onError: (res: Response, error: unknown) => void,
): void {
  let result: void | Promise<void>
  try {
    result = app(req, res)
  } catch (error) {
    onError(res, error)
    return
  }
  if (result !== undefined && result !== null && typeof (result as Promise<void>).then === 'function') {
    ;(result as Promise<void>).then(undefined, (error: unknown) => onError(res, error))
  }
}
