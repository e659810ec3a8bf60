// A module that throws something that is not an Error.
throw 'a bare string'
