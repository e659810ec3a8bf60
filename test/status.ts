import t from 'tap'
import { STATUS_TEXT, statusLine, statusText } from '../lib/http/status.js'

t.test('known codes have their RFC 9110 reason phrases', async (t) => {
  t.equal(statusText(200), 'OK')
  t.equal(statusText(404), 'Not Found')
  t.equal(statusText(413), 'Content Too Large')
  t.equal(statusText(431), 'Request Header Fields Too Large')
  t.equal(statusText(505), 'HTTP Version Not Supported')
  for (const code of Object.keys(STATUS_TEXT)) t.ok(Number(code) >= 100 && Number(code) <= 599, code)
})

t.test('an unknown code gets its class phrase', async (t) => {
  t.equal(statusText(199), 'Informational')
  t.equal(statusText(299), 'Success')
  t.equal(statusText(399), 'Redirection')
  t.equal(statusText(499), 'Client Error')
  t.equal(statusText(599), 'Server Error')
  t.equal(statusText(999), 'Server Error')
})

t.test('status lines', async (t) => {
  t.equal(statusLine(200), 'HTTP/1.1 200 OK\r\n')
  t.equal(statusLine(200), statusLine(200), 'precomputed')
  t.equal(statusLine(299), 'HTTP/1.1 299 Success\r\n', 'unknown code')
  t.equal(statusLine(200, 'Fine'), 'HTTP/1.1 200 Fine\r\n', 'own reason phrase')
  t.equal(statusLine(204, ''), 'HTTP/1.1 204 \r\n', 'empty reason phrase keeps the space (RFC 9112 4)')
})
