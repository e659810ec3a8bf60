// What a compiler makes of `export default function`: exports.default in a CommonJS module.
Object.defineProperty(exports, '__esModule', { value: true })
exports.default = function transpiledDefault(req, res) {
  res.end('transpiled default\n')
}
