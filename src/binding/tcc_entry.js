// The TCCMastraExporter's entry point as Mastra calls it, for every tracing event (outside debug mode). It reads the
// event here, in code V8 compiles together with the caller, and hands the native side only what each step needs: a
// start's span object (held until the span ends) with its id and trace id, and for a root also its metadata as JSON
// text (the run id and metadata are frozen at the root's start); an update's span and id; an end's JSON text
// (serialised once, here, by `serialise` from serialise.js, which host.rs puts in place of the comment naming it) with
// its span, its root flag and which of its Dates went as epoch milliseconds (the worker writes them back as ISO
// strings; the native side reads the ids from the text's opening, where Mastra's spans have them, and from the span
// otherwise); a start without ids as JSON text. Anything else (not
// an object, an unknown type, no span, a throwing getter or toJSON) goes to `handle`, the native handler, which reads
// the event again, counts and reports what is wrong, and falls back to the careful serialiser.
//
// Text goes over with whether it is narrow (no character above U+00FF), so the native side can copy one byte per
// character. V8 keeps such strings one byte wide, and for those it answers the test below without reading the string.
//
// The entry point's placeholder name below is replaced with the method's name before this runs: a function named in
// its source keeps the fast path of `Function.prototype.bind`, which Mastra calls on the entry point for every event.
(function (handle, hold, update, end, begin, rooted, done) {
  const WIDE = /[^\x00-\xff]/
  /* serialise.js */
  return function ENTRY_POINT(event) {
    let step = 0
    let span, id, trace, root, json
    try {
      if (typeof event === 'object' && event !== null) {
        const type = event.type
        span = event.exportedSpan
        if (typeof span === 'object' && span !== null) {
          if (type === 'span_started') {
            root = span.isRootSpan === true
            id = span.id
            trace = span.traceId
            if (typeof id === 'string' && typeof trace === 'string') {
              if (root) {
                // A root is held too; its run id and metadata are read now, from its metadata alone.
                json = JSON.stringify(span.metadata)
                step = 5
              } else step = 1
            } else {
              // A span without ids goes over at its start.
              json = JSON.stringify(span)
              if (typeof json === 'string') step = 4
            }
          } else if (type === 'span_updated') {
            id = span.id
            step = 2
          } else if (type === 'span_ended') {
            root = span.isRootSpan === true
            json = serialise(span)
            if (typeof json === 'string') step = 3
          }
        }
      }
    } catch {
      step = 0
    }
    if (step === 1) hold(span, id, trace)
    else if (step === 2) update(span, id)
    else if (step === 3) end(json, span, root, !WIDE.test(json), dates)
    else if (step === 4) begin(json, !WIDE.test(json))
    else if (step === 5) rooted(span, id, trace, json, typeof json === 'string' && !WIDE.test(json))
    else handle(event)
    return done
  }
})
