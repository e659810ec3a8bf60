// The app's fetch handler, once `react-router build` has made build/: imported from here so that
// react-router resolves from this app's own node_modules, as its server build's imports do.
import { createRequestHandler } from 'react-router'
import * as build from './build/server/index.js'

export const handler = createRequestHandler(build, 'production')
