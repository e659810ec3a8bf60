// A CommonJS app: module.exports is the app, with a named export node can see statically.
module.exports = function cjsDefault(req, res) {
  res.end('cjs default\n')
}
module.exports.handler = function cjsHandler(req, res) {
  res.end('cjs handler\n')
}
