// Fallback serialiser, used only when JSON.stringify throws on a span (BigInt, a cycle, a throwing getter or
// toJSON). Produces what JSON.stringify would where it can: BigInt becomes "<digits>n" (as Mastra's own cleaner
// writes it), a repeated ancestor becomes "[Circular]", a property whose read throws becomes "[Unreadable]".
(function safeStringify(value) {
  const stack = []
  function walk(v, key, holder) {
    try {
      if (v !== null && typeof v === 'object' && typeof v.toJSON === 'function') v = v.toJSON(key)
    } catch {
      return '[Unreadable]'
    }
    if (typeof v === 'bigint') return `${v}n`
    if (v === null || typeof v !== 'object') return v
    if (stack.includes(v) || stack.length > 200) return stack.includes(v) ? '[Circular]' : '[MaxDepth]'
    stack.push(v)
    let out
    if (Array.isArray(v)) {
      out = []
      for (let i = 0; i < v.length; i++) {
        let x
        try { x = v[i] } catch { x = '[Unreadable]' }
        const y = walk(x, String(i), v)
        out.push(y === undefined || typeof y === 'function' || typeof y === 'symbol' ? null : y)
      }
    } else {
      out = {}
      for (const k of Object.keys(v)) {
        let x
        try { x = v[k] } catch { x = '[Unreadable]' }
        const y = walk(x, k, v)
        if (y !== undefined && typeof y !== 'function' && typeof y !== 'symbol') out[k] = y
      }
    }
    stack.pop()
    return out
  }
  return JSON.stringify(walk(value, '', undefined))
})
