// A module without a single function export.
export const answer = 42
