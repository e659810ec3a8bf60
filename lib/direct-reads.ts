// Accepted sockets that read into one buffer shared by all of them (net.Socket's `onread`),
// each chunk copied out once and handed straight to its connection. Node.js's own read path
// allocates a 64 KiB buffer per read, shrinks it, and passes the chunk through Readable.push and
// a 'data' event: on hello that was about 12% of a bare node:net server's CPU per request
// (benchmarks/README.md, issue 12). net.Server builds its sockets itself, so the listener's
// accept hook (its handle's `onconnection`, Node.js internals) is wrapped: feature-detected, and
// a listener without one keeps the ordinary 'connection' event.
import net from 'node:net'
import type { Socket } from 'node:net'

/** Turned off by tests to run the ordinary path (and by anyone who needs to). */
export const directReads = { enabled: true }

/**
 * Every read lands here, then is copied out at once (reads and their callbacks happen one at a
 * time on the loop's thread): a chunk kept by the parser never changes under it.
 */
const SHARED = Buffer.allocUnsafe(64 * 1024)

/** Where a direct socket's chunks go: false stops reading (until the socket is resumed). */
export type ChunkReader = (chunk: Buffer) => boolean | void

/** Ties a direct socket to whoever reads it; set by the time the first read can come. */
export class DirectReads {
  reader: ChunkReader | null
  constructor() {
    this.reader = null
  }

  readonly onread = (length: number, buffer: Uint8Array): boolean => {
    const chunk = Buffer.allocUnsafe(length)
    chunk.set(buffer.subarray(0, length))
    return (this.reader as ChunkReader)(chunk) !== false
  }

  /**
   * From now on the chunks go through the socket's stream ('data' events, pause, unshift) as on
   * any socket: for a new owner (an upgrade) that reads it the ordinary way.
   */
  toStream(socket: Socket): void {
    this.reader = (chunk) => socket.push(chunk)
  }
}

interface ListenHandle {
  onconnection: (this: ListenHandle, error: number, client: ClientHandle | undefined) => void
}

interface ClientHandle {
  setNoDelay?: (on: boolean) => number
}

/**
 * Makes `listener` hand `accepted` sockets that read directly; false (nothing changed) when its
 * handle has no accept hook to wrap. Call once it listens. Options the listener was made with
 * and Pegasus does not use (maxConnections, blockList, pauseOnConnect) are not honoured.
 */
export function acceptDirect(listener: net.Server, accepted: (socket: Socket, reads: DirectReads) => void): boolean {
  const handle = (listener as unknown as { _handle?: Partial<ListenHandle> | null })._handle
  if (!directReads.enabled || handle === null || handle === undefined || typeof handle.onconnection !== 'function') return false
  const ordinary = handle.onconnection
  const counted = listener as unknown as { _connections: number }
  handle.onconnection = function (error, client) {
    // A failed accept: Node.js's own handling (an 'error' event on the listener).
    if (error !== 0) {
      ordinary.call(this, error, client)
      return
    }
    const peer = client as ClientHandle
    const reads = new DirectReads()
    const socket = new net.Socket({
      handle: peer,
      allowHalfOpen: true,
      readable: true,
      writable: true,
      onread: { buffer: SHARED, callback: reads.onread },
    } as net.SocketConstructorOpts)
    if (typeof peer.setNoDelay === 'function') peer.setNoDelay(true)
    // As net.Server does for its own sockets: close() waits for them, getConnections counts them.
    counted._connections++
    const owned = socket as unknown as { server: net.Server; _server: net.Server }
    owned.server = listener
    owned._server = listener
    accepted(socket, reads)
  }
  return true
}
