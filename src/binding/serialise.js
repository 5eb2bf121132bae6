  // `serialise(span)`: the span's JSON text, as `JSON.stringify(span)` would write it except for its Dates, which are
  // written as their epoch milliseconds; `dates` then says which (see src/dates.rs, which writes them back as ISO
  // strings on a worker thread where a text needs them). `JSON.stringify` writes a Date by calling back into
  // `Date.prototype.toJSON`, which costs more than all the rest of a typical span: 3 to 4 µs per Date, and a span has
  // two, a model span three. So each of those Dates is replaced by its time value (read with the original `getTime`)
  // for the call to `JSON.stringify`, in the span itself, and put back right after, whatever happens. (A shallow copy
  // of the span did the same, but cost about a third of the serialising: spans of many shapes defeat V8's fast clone,
  // which then defines the copy's members one by one.) The replacing is done in strict mode, so a member that cannot be
  // written throws, and each member is read back: a frozen span, a read-only member or an accessor that does not keep
  // what it is given is serialised from a copy instead, as before. `completionStartTime` goes in a copy of the
  // attributes (put in the span's `attributes` for the call), as the same attributes object could be elsewhere in the
  // span too. Nothing else runs while the span holds numbers, except a `toJSON` of a value inside the span (which the
  // wrapper cannot see).
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
    const first = plain(attributes) ? attributes.completionStartTime : undefined
    if (isDate(start)) dates = START
    if (isDate(end)) dates |= END
    if (isDate(first)) dates |= COMPLETION
    if (dates === 0) return JSON.stringify(span)
    const startMs = dates & START ? TIME.call(start) : 0
    const endMs = dates & END ? TIME.call(end) : 0
    // The attributes are copied rather than changed: the same object could be elsewhere in the span too.
    let withFirst = attributes
    if (dates & COMPLETION) {
      withFirst = { ...attributes }
      withFirst.completionStartTime = TIME.call(first)
    }
    const json = inPlace(span, attributes, start, end, startMs, endMs, withFirst)
    if (json !== undefined) return json
    const copy = { ...span }
    if (dates & START) copy.startTime = startMs
    if (dates & END) copy.endTime = endMs
    copy.attributes = withFirst
    return JSON.stringify(copy)
  }
  // The span's text with its times and attributes replaced in place, or undefined when the span does not take them (see
  // above).
  function inPlace(span, attributes, start, end, startMs, endMs, withFirst) {
    'use strict'
    let written = 0
    try {
      if (dates & START) {
        span.startTime = startMs
        written = START
      }
      if (dates & END) {
        span.endTime = endMs
        written |= END
      }
      if (dates & COMPLETION) {
        span.attributes = withFirst
        written |= COMPLETION
      }
      if (
        (dates & START && span.startTime !== startMs) ||
        (dates & END && span.endTime !== endMs) ||
        (dates & COMPLETION && span.attributes !== withFirst)
      ) {
        return undefined
      }
      return JSON.stringify(span)
    } catch (e) {
      if (written === dates) throw e
      return undefined
    } finally {
      if (written & START) span.startTime = start
      if (written & END) span.endTime = end
      if (written & COMPLETION) span.attributes = attributes
    }
  }
