// A module that fails while it loads, with a message of more than one line.
throw new Error('boom while loading\nsecond line of the message')
