// twin.js and twin.mjs: with the extension left out, .js is tried first.
export default function twinJs() {}
