// Where Pegasus deliberately answers AWS's http-desync-guardian cases otherwise than their tier
// asks, and why. test/desync-guardian.ts holds every case to its tier: Severe refused (a 4xx/5xx
// and the close, the app never called); Ambiguous refused, or served with the connection closed
// after it; Compliant served; Acceptable either way. A case listed here must behave as its
// `pegasus` outcome says instead, and that must still be outside what its tier allows.

export interface PolicyReason {
  title: string
  rfc: string
}

export const REASONS = {
  coding: { title: 'Transfer codings other than chunked: 501; a coding with parameters: 400', rfc: 'RFC 9112 §6.1, §7' },
  targetGrammar: { title: 'Request-target bytes outside RFC 3986 refused: 400', rfc: 'RFC 9112 §3 (SHOULD), §3.2; RFC 3986 §2' },
  emptyTarget: { title: 'An empty request-target is no origin-form: 400', rfc: 'RFC 9112 §3.2.1' },
  bodyWithoutSemantics: {
    title: 'A GET or HEAD request with a body (framed by Content-Length or chunked) is served, the connection kept',
    rfc: 'RFC 9110 §9.3.1, §9.3.2; RFC 9112 §6.3',
  },
  lookalikeName: { title: 'Field names like a framing field but for repeated `-` or `_` are other fields', rfc: 'RFC 9110 §5.1' },
} satisfies Record<string, PolicyReason>

export type ReasonKey = keyof typeof REASONS

/** served: the app is called and the connection persists; refused: this status and the close. */
export type Outcome = { kind: 'served' } | { kind: 'refused'; status: number }

export interface Difference {
  /** `file > name`. */
  id: string
  reason: ReasonKey
  /** Why the guardian's tier does not fit. */
  why: string
  pegasus: Outcome
}

const refused = (status: number): Outcome => ({ kind: 'refused', status })
const SERVED: Outcome = { kind: 'served' }

const GET_BODY = 'Elasticsearch and other API clients send GET with a body; its framing is as plain as a POST\'s, and no proxy that follows RFC 9112 §6.3 reads it otherwise'

export const DIFFERENCES: Difference[] = [
  // --- Transfer codings (Compliant by the guardian; Pegasus decodes none but chunked) ------------
  ...[
    'more-compliant-tests.yaml > Correct TE OK',
    'more-compliant-tests.yaml > Transfer-Encoding: identity and chunked OK',
    'more-compliant-tests.yaml > Multiple transfer encoding headers in a single request OK',
    'rfc-compliant.yaml > Different Transfer-Encoding headers',
    'rfc-compliant.yaml > Different Transfer-Encoding headers combined',
  ].map((id): Difference => ({ id, reason: 'coding', why: 'a coding Pegasus does not decode (gzip, deflate, compress; identity is no coding since RFC 7230): 501', pegasus: refused(501) })),
  ...['more-compliant-tests.yaml > TE with custom parameters OK', 'rfc-compliant.yaml > Transfer-Encoding with a param: chunked;custom_param'].map(
    (id): Difference => ({ id, reason: 'coding', why: 'chunked takes no parameters (RFC 9112 §7): `chunked;custom_param` is not chunked, so the body has no framing: 400', pegasus: refused(400) }),
  ),

  // --- The request-target ------------------------------------------------------------------------
  { id: 'rfc-compliant.yaml > Compliant URL', reason: 'targetGrammar', why: '`<>"#` and a `%` without hex digits are outside RFC 3986', pegasus: refused(400) },
  { id: 'rfc-compliant.yaml > International in URI', reason: 'targetGrammar', why: 'raw UTF-8 is outside RFC 3986 (clients send it percent-encoded)', pegasus: refused(400) },
  { id: 'rfc-compliant.yaml > Empty URI', reason: 'emptyTarget', why: 'origin-form is absolute-path [ "?" query ]: never empty', pegasus: refused(400) },

  // --- Bodies on GET and HEAD (Ambiguous by the guardian) ----------------------------------------
  ...[
    'ambiguous.yaml > Get with a body and Content-Length',
    'ambiguous.yaml > Get with a body and Transfer-Encoding',
    'ambiguous.yaml > Head with a body and Content-Length',
    'ambiguous.yaml > Head with a body and Transfer-Encoding',
    'real-life-test-cases.yaml > Has a CL in GET',
    'real-life-test-cases.yaml > Has a TE in GET',
  ].map((id): Difference => ({ id, reason: 'bodyWithoutSemantics', why: GET_BODY, pegasus: SERVED })),

  // --- Field names that no proxy takes for framing fields ---------------------------------------
  ...['ambiguous.yaml > Transfer-Encoding with multiple hyphens', 'ambiguous.yaml > Transfer-Encoding with multiple delimiters'].map(
    (id): Difference => ({
      id,
      reason: 'lookalikeName',
      why: '`Transfer---Encoding` and `Transfer___Encoding` are tokens no server or proxy maps to Transfer-Encoding; they are passed on as other fields (`Transfer_Encoding` and `Content_Length` are refused)',
      pegasus: SERVED,
    }),
  ),
]
