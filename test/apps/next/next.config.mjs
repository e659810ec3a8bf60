// No telemetry, no image optimisation: the build and the server stay offline.
export default { images: { unoptimized: true } }
