// A minimal Next.js app (App Router) for test/node-next.ts, built there with `next build` and
// served by Next's request handler through Pegasus's node interface.
export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
