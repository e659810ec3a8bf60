// What both WebSocket servers do with a connection: send every message back as it came (text as
// text, binary as binary). `ws`'s defaults otherwise (no permessage-deflate).
export function echoEvery(wss) {
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
  })
}
