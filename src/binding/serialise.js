  // `serialise(span)`: the span's JSON text, as `JSON.stringify(span)` would write it except for its Dates, which are
  // written as their epoch milliseconds; `dates` then says which (see src/dates.rs, which writes them back as ISO
  // strings on a worker thread where a text needs them). `JSON.stringify` writes a Date by calling back into
  // `Date.prototype.toJSON`, which costs more than all the rest of a typical span: 3 to 4 µs per Date, and a span has
  // two, a model span three. So a shallow copy of the span (and of its attributes) is serialised instead, with each of
  // those Dates replaced by its time value, read with the original `getTime`.
  //
  // Only plain Dates (whose prototype is `Date.prototype`) in plain objects (whose prototype is `Object.prototype`,
  // with no `toJSON`) are replaced, and only while `Date.prototype.toJSON` and `toISOString` are the built-in ones
  // (checked when the wrapper is made, and compared with what they were then at every span); anything else is
  // serialised as it is. An invalid Date's time is NaN, which is written as `null`, as its `toJSON` writes it.
  const START = 1
  const END = 2
  const COMPLETION = 4
  const OBJECT = Object.prototype
  const DATE = Date.prototype
  const TO_JSON = DATE.toJSON
  const TO_ISO = DATE.toISOString
  const TIME = DATE.getTime
  // What they are now must be the built-in ones (a program may have replaced them before this wrapper was made).
  const source = Function.prototype.toString
  const builtIn = (f, name) => typeof f === 'function' && source.call(f) === `function ${name}() { [native code] }`
  const FAST = builtIn(TO_JSON, 'toJSON') && builtIn(TO_ISO, 'toISOString') && builtIn(TIME, 'getTime')
  let dates = 0
  function plain(o) {
    return typeof o === 'object' && o !== null && Object.getPrototypeOf(o) === OBJECT && o.toJSON === undefined
  }
  function isDate(v) {
    return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === DATE
  }
  function serialise(span) {
    dates = 0
    if (!FAST || !plain(span) || DATE.toJSON !== TO_JSON || DATE.toISOString !== TO_ISO) return JSON.stringify(span)
    const start = span.startTime
    const end = span.endTime
    const attributes = span.attributes
    let copy
    if (isDate(start)) {
      copy = { ...span }
      copy.startTime = TIME.call(start)
      dates = START
    }
    if (isDate(end)) {
      if (copy === undefined) copy = { ...span }
      copy.endTime = TIME.call(end)
      dates |= END
    }
    if (plain(attributes)) {
      const first = attributes.completionStartTime
      if (isDate(first)) {
        const a = { ...attributes }
        a.completionStartTime = TIME.call(first)
        if (copy === undefined) copy = { ...span }
        copy.attributes = a
        dates |= COMPLETION
      }
    }
    return JSON.stringify(copy === undefined ? span : copy)
  }
