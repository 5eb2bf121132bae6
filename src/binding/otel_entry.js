// The OtelExporter's entry point as Mastra calls it, for every tracing event. The common events are handled here, in
// code V8 compiles together with the caller: a start or an update is ignored (only ends are exported), and an end is
// serialised (by `serialise`, from serialise.js, which host.rs puts in place of the comment naming it: its Dates go as
// epoch milliseconds, which the worker reads as times) and its text handed to `ended`, a native function that only
// copies it out. Anything else (not an object, an unknown type, no span, a throwing getter or toJSON) goes to
// `handle`, the native handler, which reads the event again, counts and reports what is wrong, and falls back to the
// careful serialiser.
//
// `ended` also learns whether the text is narrow (no character above U+00FF), so it can copy one byte per character.
// V8 keeps such strings one byte wide, and for those it answers the test below without reading the string.
//
// The entry point's placeholder name below is replaced with the method's name before this runs: a function named in
// its source keeps the fast path of `Function.prototype.bind`, which Mastra calls on the entry point for every event.
(function (handle, ended, done) {
  const IGNORED = 1
  const WIDE = /[^\x00-\xff]/
  /* serialise.js */
  function read(event) {
    if (typeof event !== 'object' || event === null) return undefined
    const type = event.type
    if (type !== 'span_ended' && type !== 'span_started' && type !== 'span_updated') return undefined
    const span = event.exportedSpan
    if (typeof span !== 'object' || span === null) return undefined
    return type === 'span_ended' ? serialise(span) : IGNORED
  }
  return function ENTRY_POINT(event) {
    let json
    try {
      json = read(event)
    } catch {
      json = undefined
    }
    if (typeof json === 'string') ended(json, !WIDE.test(json))
    else if (json !== IGNORED) handle(event)
    return done
  }
})
