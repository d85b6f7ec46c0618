// The pure core: events, the workflow language and the interpreter. No I/O, no clock.
