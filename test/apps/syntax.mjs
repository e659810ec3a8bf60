// A module node cannot parse.
export const = 1
