// A minimal React Router 7 app (framework mode, server rendering) for test/fetch-react-router.ts:
// built with `react-router build`; its server build is served by createRequestHandler through
// Pegasus's fetch interface.
export default { ssr: true }
