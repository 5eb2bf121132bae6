//! Rust's allocator: mimalloc, asked for the alignment a layout needs by the cheapest call that gives it.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};

/// mimalloc behind Rust's allocator interface. An alignment the plain calls already give (at most 16 bytes and at most
/// the size, as for `malloc`) goes to `mi_malloc`, `mi_realloc` and `mi_zalloc`; only a larger one takes the `_aligned`
/// calls. (The `mimalloc` crate sends every allocation through `mi_malloc_aligned`, whose checks and generic path
/// for blocks over 1 KiB were 8% of the OTel worker's instructions.)
pub struct Mimalloc;

/// The alignment `mi_malloc` guarantees for a block of at least this size (`MI_MAX_ALIGN_SIZE`).
const MI_MAX_ALIGN_SIZE: usize = 16;

fn plain(align: usize, size: usize) -> bool {
  align <= MI_MAX_ALIGN_SIZE && align <= size
}

/// A block for `layout` from `plain` where its alignment covers the layout's, else from `aligned`.
#[inline(always)]
unsafe fn allocate(
  layout: Layout,
  plain_call: unsafe extern "C" fn(usize) -> *mut std::ffi::c_void,
  aligned_call: unsafe extern "C" fn(usize, usize) -> *mut std::ffi::c_void,
) -> *mut u8 {
  unsafe {
    if plain(layout.align(), layout.size()) {
      plain_call(layout.size()).cast()
    } else {
      aligned_call(layout.size(), layout.align()).cast()
    }
  }
}

// SAFETY: every call forwards to mimalloc, which returns null on failure and blocks aligned as asked: the plain calls
// only where their own alignment (that of `malloc`) covers the layout's, the `_aligned` calls otherwise.
unsafe impl GlobalAlloc for Mimalloc {
  #[inline]
  unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
    // SAFETY: both are mimalloc's allocation calls, given the layout's size and alignment.
    unsafe { allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
  }

  #[inline]
  unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
    // SAFETY: as `alloc`, zeroed.
    unsafe { allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
  }

  #[inline]
  unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
    unsafe { mi::mi_free(ptr.cast()) }
  }

  #[inline]
  unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    unsafe {
      if plain(layout.align(), new_size) {
        mi::mi_realloc(ptr.cast(), new_size).cast()
      } else {
        mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
      }
    }
  }
}

/// Memory freed in a burst is kept for a second before it goes back to the system (mimalloc's default is 10 ms): the
/// JavaScript thread then reuses it for the next spans instead of faulting in and zeroing fresh pages, and the worker
/// spends less time in the kernel. `MIMALLOC_PURGE_DELAY` still overrides it.
pub fn tune_allocator() {
  /// `mi_option_purge_delay` in mimalloc.h (v3).
  const PURGE_DELAY: mi::mi_option_t = 15;
  const PURGE_DELAY_MS: std::ffi::c_long = 1000;
  // Safety: sets a default in mimalloc's option table; safe at any time.
  unsafe { mi::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn blocks_are_aligned_as_asked_and_keep_their_bytes_when_resized() {
    let a = Mimalloc;
    for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
      // Sizes below the alignment, at it, and over mimalloc's small (1 KiB) and medium limits.
      for size in [1, 3, 8, 15, 16, 24, 40, 100, 1000, 1025, 5000, 70_000] {
        let layout = Layout::from_size_align(size, align).unwrap();
        unsafe {
          let p = a.alloc(layout);
          assert!(!p.is_null());
          assert_eq!(p as usize % align, 0, "alloc size {size} align {align}");
          for i in 0..size {
            *p.add(i) = (i % 251) as u8;
          }
          let grown = size * 3 + 7;
          let q = a.realloc(p, layout, grown);
          assert_eq!(q as usize % align, 0, "realloc to {grown} align {align}");
          for i in 0..size {
            assert_eq!(*q.add(i), (i % 251) as u8);
          }
          let shrunk = (size / 2).max(1);
          let r = a.realloc(q, Layout::from_size_align(grown, align).unwrap(), shrunk);
          assert_eq!(r as usize % align, 0, "realloc to {shrunk} align {align}");
          for i in 0..shrunk {
            assert_eq!(*r.add(i), (i % 251) as u8);
          }
          a.dealloc(r, Layout::from_size_align(shrunk, align).unwrap());
          let z = a.alloc_zeroed(layout);
          assert_eq!(z as usize % align, 0, "alloc_zeroed size {size} align {align}");
          assert!((0..size).all(|i| *z.add(i) == 0));
          a.dealloc(z, layout);
        }
      }
    }
  }
}
