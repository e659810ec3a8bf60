// Runs the small Python modules of gunicorn's request corpus (tests/requests/*/*.py) without
// Python: `from X import Y` lines, `NAME = expression` assignments and calls such as
// `cfg.set("name", value)`. Expressions are literals (str and bytes in every quoting, ints,
// tuples, lists, dicts, True/False/None), names, calls of the functions the caller provides,
// and the str/bytes methods the corpus uses (replace, decode, encode). Strings are JS strings:
// bytes literals hold one character a byte (latin1), str literals their characters.
// Anything else throws, naming the file's line: a case the parser cannot read is not guessed at.

export type PyValue = string | number | boolean | null | PyValue[] | PyDict | PyCallable | PyObject

export interface PyDict {
  [key: string]: PyValue
}

export type PyCallable = (...args: PyValue[]) => PyValue

/** A name imported with `from module import name`, or an object the caller provides. */
export class PyObject {
  constructor(
    readonly label: string,
    readonly attributes: Record<string, PyValue> = {},
  ) {}
}

interface Token {
  kind: 'name' | 'number' | 'string' | 'op' | 'newline' | 'end'
  text: string
  value: string | number
  line: number
}

const OPS = new Set(['(', ')', '[', ']', '{', '}', ',', ':', '.', '=', '-'])

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let depth = 0
  let line = 1
  let i = 0
  const push = (kind: Token['kind'], text: string, value: string | number = text): void => {
    tokens.push({ kind, text, value, line })
  }
  while (i < source.length) {
    const c = source[i]
    if (c === '\n') {
      if (depth === 0 && tokens.length > 0 && tokens[tokens.length - 1].kind !== 'newline') push('newline', '\n')
      line++
      i++
    } else if (c === ' ' || c === '\t' || c === '\r') i++
    else if (c === '\\' && source[i + 1] === '\n') {
      i += 2
      line++
    } else if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))![0]
      const quote = source[i + m.length]
      if (/^[bBrRuU]{1,2}$/.test(m) && (quote === '"' || quote === "'")) {
        const { value, end, lines } = readString(source, i + m.length, m.toLowerCase(), line)
        push('string', source.slice(i, end), value)
        line += lines
        i = end
      } else {
        push('name', m)
        i += m.length
      }
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9_]+/.exec(source.slice(i))![0]
      push('number', m, Number(m.replace(/_/g, '')))
      i += m.length
    } else if (c === '"' || c === "'") {
      const { value, end, lines } = readString(source, i, '', line)
      push('string', source.slice(i, end), value)
      line += lines
      i = end
    } else if (OPS.has(c)) {
      if ('([{'.includes(c)) depth++
      else if (')]}'.includes(c)) depth--
      push('op', c)
      i++
    } else {
      throw new SyntaxError(`line ${line}: unexpected ${JSON.stringify(c)}`)
    }
  }
  push('newline', '\n')
  push('end', '')
  return tokens
}

/** A string literal from its opening quote at `start`; `prefix` is its lower-cased prefix. */
function readString(source: string, start: number, prefix: string, line: number): { value: string; end: number; lines: number } {
  const raw = prefix.includes('r')
  const bytes = prefix.includes('b')
  const q = source[start]
  const triple = source.startsWith(q.repeat(3), start)
  const close = triple ? q.repeat(3) : q
  let i = start + close.length
  let value = ''
  let lines = 0
  for (;;) {
    if (i >= source.length) throw new SyntaxError(`line ${line}: unterminated string`)
    if (source.startsWith(close, i)) break
    const c = source[i]
    if (c === '\n') {
      if (!triple) throw new SyntaxError(`line ${line}: newline in a string`)
      lines++
    }
    if (c === '\\' && !raw) {
      const e = source[i + 1]
      const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '0': '\0', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' }
      if (e === '\n') {
        lines++
        i += 2
      } else if (e === 'x') {
        value += String.fromCharCode(parseInt(source.slice(i + 2, i + 4), 16))
        i += 4
      } else if (e === 'u' && !bytes) {
        value += String.fromCharCode(parseInt(source.slice(i + 2, i + 6), 16))
        i += 6
      } else if (simple[e] !== undefined) {
        value += simple[e]
        i += 2
      } else {
        value += c
        i++
      }
      continue
    }
    value += c
    i++
  }
  // A bytes literal's characters are bytes; a str literal's non-ASCII ones are kept as they are.
  if (bytes && /[^\x00-\x7f]/.test(value)) throw new SyntaxError(`line ${line}: non-ASCII character in a bytes literal`)
  return { value, end: i + close.length, lines }
}

/** Evaluates the module; returns its names (the ones given, then those it assigned). */
export function runPython(source: string, names: Record<string, PyValue> = {}): Record<string, PyValue> {
  const env: Record<string, PyValue> = { True: true, False: false, None: null, ...names }
  const tokens = tokenize(source)
  let pos = 0
  const peek = (): Token => tokens[pos]
  const next = (): Token => tokens[pos++]
  const fail = (what: string): never => {
    throw new SyntaxError(`line ${peek().line}: ${what}, found ${JSON.stringify(peek().text)}`)
  }
  const expect = (text: string): void => {
    if (peek().text !== text || peek().kind === 'string') fail(`expected ${JSON.stringify(text)}`)
    pos++
  }
  const isOp = (text: string): boolean => peek().kind === 'op' && peek().text === text

  /** Items up to `close`, comma-separated, a trailing comma allowed. */
  const items = <T>(close: string, item: () => T): { list: T[]; comma: boolean } => {
    const list: T[] = []
    let comma = false
    while (!isOp(close)) {
      list.push(item())
      comma = false
      if (!isOp(',')) break
      next()
      comma = true
    }
    expect(close)
    return { list, comma }
  }

  const atom = (): PyValue => {
    const t = next()
    if (t.kind === 'string') {
      let value = t.value as string
      while (peek().kind === 'string') value += next().value as string
      return value
    }
    if (t.kind === 'number') return t.value as number
    if (t.kind === 'name') {
      if (!(t.text in env)) throw new SyntaxError(`line ${t.line}: unknown name ${t.text}`)
      return env[t.text]
    }
    if (t.kind === 'op') {
      if (t.text === '-') {
        const n = atom()
        if (typeof n !== 'number') throw new SyntaxError(`line ${t.line}: minus before a non-number`)
        return -n
      }
      if (t.text === '[') return items(']', expression).list
      if (t.text === '(') {
        const { list, comma } = items(')', expression)
        // `(x)` is x; `(x,)` and `(x, y)` are tuples (arrays here).
        return list.length === 1 && !comma ? list[0] : list
      }
      if (t.text === '{') {
        const dict: PyDict = {}
        items('}', () => {
          const key = expression()
          expect(':')
          dict[String(key)] = expression()
        })
        return dict
      }
    }
    pos--
    return fail('expected an expression')
  }

  const expression = (): PyValue => {
    let value = atom()
    for (;;) {
      if (isOp('.')) {
        next()
        const name = next()
        if (name.kind !== 'name') fail('expected an attribute name')
        value = attribute(value, name.text, name.line)
      } else if (isOp('(')) {
        next()
        const args = items(')', expression).list
        if (typeof value !== 'function') throw new SyntaxError(`line ${peek().line}: call of a non-function`)
        value = value(...args)
      } else return value
    }
  }

  while (peek().kind !== 'end') {
    if (peek().kind === 'newline') {
      next()
      continue
    }
    if (peek().text === 'from' || peek().text === 'import') {
      // from MODULE import NAME[, NAME...]: each name is an object labelled MODULE.NAME.
      const from = peek().text === 'from'
      next()
      let module = ''
      while (peek().kind === 'name' || isOp('.')) {
        if (peek().text === 'import' && from) break
        module += next().text
      }
      if (from) {
        expect('import')
        for (;;) {
          const name = next()
          env[name.text] = env[name.text] ?? new PyObject(`${module}.${name.text}`)
          if (!isOp(',')) break
          next()
        }
      }
      if (peek().kind !== 'newline') fail('expected the end of the import')
      continue
    }
    const start = pos
    const first = next()
    if (first.kind === 'name' && isOp('=')) {
      next()
      env[first.text] = expression()
    } else {
      pos = start
      expression()
    }
    if (peek().kind !== 'newline') fail('expected the end of the statement')
  }
  return env
}

function attribute(value: PyValue, name: string, line: number): PyValue {
  if (typeof value === 'string') {
    if (name === 'replace') return (from, to) => value.split(String(from)).join(String(to))
    // Strings are latin1 for bytes: decode('utf-8') and encode('utf-8') convert between the two.
    if (name === 'decode') return () => Buffer.from(value, 'latin1').toString('utf8')
    if (name === 'encode') return () => Buffer.from(value, 'utf8').toString('latin1')
  }
  if (value instanceof PyObject && name in value.attributes) return value.attributes[name]
  throw new SyntaxError(`line ${line}: no attribute ${name}`)
}
