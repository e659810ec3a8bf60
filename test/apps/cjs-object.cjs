// module.exports assigned from a variable: node's static analysis finds no named exports, so
// the loader has to look at the properties of module.exports itself.
const handlers = {
  app(req, res) {
    res.end('cjs object app\n')
  },
  other() {},
  port: 8080,
}
module.exports = handlers
