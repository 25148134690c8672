//! The global allocator: mimalloc, asked for an alignment only when it needs one.
//!
//! The `mimalloc` crate's allocator passes every allocation's alignment to
//! `mi_malloc_aligned`, whose checks and slower paths cost about 140 instructions an
//! allocation where `mi_malloc`'s takes a block off a free list. Every mimalloc block is
//! aligned to 8 bytes (its sizes are multiples of 8 in pages that are aligned further): a
//! layout that asks for no more goes to the plain calls; hash tables' control bytes (16) and
//! the like to the aligned ones. A block is freed the same way whichever way it was made.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_int, c_long, c_void};

use libmimalloc_sys as mi;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_e` (the same in v2 and v3).
const PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    /// An option's value unless the environment (`MIMALLOC_*`) or a call set it already.
    fn mi_option_set_default(option: c_int, value: c_long);
}

/// Freed memory goes back to the system after 10 ms (mimalloc v2's delay), not v3's whole
/// second: `inspect` frees its blocks' transient memory faster than that, and what waits to
/// be purged counted in its peak (h100k: 102 MB, 87-88 MB with 10 ms, the same CPU).
pub fn purge_soon() {
    // SAFETY: sets an integer option; mimalloc reads it when it next schedules a purge
    unsafe { mi_option_set_default(PURGE_DELAY, 10) }
}

/// What every block mimalloc hands out is aligned to.
const BLOCK_ALIGN: usize = 8;

pub struct MiMalloc;

// SAFETY: mimalloc returns null on failure, blocks aligned as asked (by `BLOCK_ALIGN` or
// explicitly), and frees and reallocates any block it made.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            if layout.align() <= BLOCK_ALIGN {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_as_their_layouts_ask() {
        let mut blocks = Vec::new();
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in [1, 3, 8, 12, 24, 40, 116, 1000, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let block = unsafe { MiMalloc.alloc(layout) };
                assert!(
                    !block.is_null() && (block as usize).is_multiple_of(align),
                    "{size} {align}"
                );
                let grown = unsafe { MiMalloc.realloc(block, layout, size * 3) };
                assert!(
                    !grown.is_null() && (grown as usize).is_multiple_of(align),
                    "{size} {align}"
                );
                let zeroed = unsafe { MiMalloc.alloc_zeroed(layout) };
                assert!((zeroed as usize).is_multiple_of(align) && unsafe { *zeroed } == 0);
                blocks.push((grown, Layout::from_size_align(size * 3, align).unwrap()));
                blocks.push((zeroed, layout));
            }
        }
        for (block, layout) in blocks {
            unsafe { MiMalloc.dealloc(block, layout) };
        }
    }
}
