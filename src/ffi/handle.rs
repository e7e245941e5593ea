//! The shape every handle export shares: init on the active portfile, a call on the object
//! behind the handle mapped to `STATE_*`, the checks of a setopt, and deinit (shutdown, free,
//! NULL written back). Each runs under [`guard`].

use std::ffi::c_void;
use std::sync::Arc;

use super::{data_ref, guard, status};
use crate::error::Result;
use crate::state::{STATE_SUCCESS, STATE_USER_INPUT_NULL_POINTER, STATE_USER_INPUT_OUT_RANGE};
use crate::sysdep::{self, Port};

/// An init export: `Box::into_raw` of what `make` builds on the active portfile; NULL when no
/// portfile is set.
pub fn new_handle<T>(make: impl FnOnce(Arc<dyn Port>) -> T) -> *mut c_void {
    guard(|| match sysdep::active() {
        Some(port) => Box::into_raw(Box::new(make(port))) as *mut c_void,
        None => std::ptr::null_mut(),
    })
}

/// A call on the object behind a handle: `STATE_USER_INPUT_NULL_POINTER` without one,
/// `STATE_SUCCESS` when `f` succeeds, else its error's code.
pub fn call<T: ?Sized, R>(target: Option<&T>, f: impl FnOnce(&T) -> Result<R>) -> i32 {
    guard(|| match target {
        Some(t) => status(f(t).map(|_| STATE_SUCCESS)),
        None => STATE_USER_INPUT_NULL_POINTER,
    })
}

/// A setopt export: `STATE_USER_INPUT_NULL_POINTER` without an object or with NULL `data`,
/// `STATE_USER_INPUT_OUT_RANGE` for an option at or past `max`, else `set`'s outcome as
/// [`call`] maps it.
pub fn setopt<T: ?Sized>(
    target: Option<&T>,
    option: u32,
    max: u32,
    data: *mut c_void,
    set: impl FnOnce(&T) -> Result<()>,
) -> i32 {
    guard(|| {
        let Some(t) = target else {
            return STATE_USER_INPUT_NULL_POINTER;
        };
        if data.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        if option >= max {
            return STATE_USER_INPUT_OUT_RANGE;
        }
        status(set(t).map(|_| STATE_SUCCESS))
    })
}

/// A deinit export: `null_code` when `handle` or `*handle` is NULL; else `shutdown` runs on
/// the `T` (its error's code returned and the handle kept if it fails), then the `T` is
/// freed and `*handle` set to NULL.
///
/// # Safety
/// `handle` must be NULL or point to a writable `void *` holding NULL or a `T` from
/// `Box::into_raw` not yet freed, which no call uses any more once `shutdown` succeeded.
pub unsafe fn deinit_handle<T>(
    handle: *mut *mut c_void,
    null_code: i32,
    shutdown: impl FnOnce(&T) -> Result<()>,
) -> i32 {
    guard(|| {
        // SAFETY: `handle` is NULL or points to a handle slot (this function's contract).
        let Some(slot) = (unsafe { handle_slot(handle) }) else {
            return null_code;
        };
        // SAFETY: the slot holds a live, non-NULL `T` (this function's contract).
        if let Err(e) = shutdown(unsafe { data_ref::<T>(*slot) }) {
            return e.code();
        }
        // SAFETY: made by `Box::into_raw` for this `T` and, the shutdown having succeeded, no
        // longer used by any call (this function's contract).
        unsafe { free_handle::<T>(slot) };
        STATE_SUCCESS
    })
}

/// The `void **` slot of a deinit call; `None` when it or the handle in it is NULL.
///
/// # Safety
/// `handle` must be NULL or point to a writable `void *` that no other thread uses meanwhile.
unsafe fn handle_slot<'a>(handle: *mut *mut c_void) -> Option<&'a mut *mut c_void> {
    // SAFETY: NULL is handled by `as_mut`; otherwise valid and exclusive by the contract.
    unsafe { handle.as_mut() }.filter(|h| !h.is_null())
}

/// Sets the slot to NULL and frees the `T` that was in it (`Box::from_raw` of the init call).
///
/// # Safety
/// `*slot` must come from `Box::into_raw(Box<T>)`, not be freed yet, and not be used by any
/// other call from now on.
unsafe fn free_handle<T>(slot: &mut *mut c_void) {
    let raw = std::mem::replace(slot, std::ptr::null_mut());
    // SAFETY: made by `Box::into_raw` for this `T` and freed only here (caller's contract).
    drop(unsafe { Box::from_raw(raw as *mut T) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::state::{STATE_SYS_DEPEND_MALLOC_FAILED, STATE_USER_INPUT_UNKNOWN_OPTION};

    #[test]
    fn deinit_keeps_the_handle_when_the_shutdown_fails_and_frees_it_otherwise() {
        const NULL_CODE: i32 = -0x7777;
        // SAFETY (all calls below): NULL, or a slot holding NULL or a boxed `u8` not yet freed.
        assert_eq!(
            unsafe { deinit_handle::<u8>(std::ptr::null_mut(), NULL_CODE, |_| Ok(())) },
            NULL_CODE
        );
        let mut slot: *mut c_void = std::ptr::null_mut();
        assert_eq!(
            unsafe { deinit_handle::<u8>(&mut slot, NULL_CODE, |_| Ok(())) },
            NULL_CODE
        );
        slot = Box::into_raw(Box::new(5u8)) as *mut c_void;
        let failed = unsafe {
            deinit_handle::<u8>(&mut slot, NULL_CODE, |v| {
                assert_eq!(*v, 5);
                Err(Error::DeinitTimeout)
            })
        };
        assert_eq!(failed, Error::DeinitTimeout.code());
        assert!(!slot.is_null(), "a failed shutdown keeps the handle");
        assert_eq!(
            unsafe { deinit_handle::<u8>(&mut slot, NULL_CODE, |_| Ok(())) },
            STATE_SUCCESS
        );
        assert!(slot.is_null(), "deinit writes NULL back");
    }

    #[test]
    fn call_and_setopt_check_in_upstream_order_and_map_the_outcome() {
        let v = 3u32;
        let data = &v as *const u32 as *mut c_void;
        assert_eq!(call::<u32, ()>(None, |_| Ok(())), STATE_USER_INPUT_NULL_POINTER);
        assert_eq!(call(Some(&v), |_| Ok(7)), STATE_SUCCESS);
        assert_eq!(
            call(Some(&v), |_| Err::<(), _>(Error::UnknownOption)),
            STATE_USER_INPUT_UNKNOWN_OPTION
        );
        let ok = |_: &u32| Ok(());
        assert_eq!(
            setopt::<u32>(None, 9, 5, std::ptr::null_mut(), ok),
            STATE_USER_INPUT_NULL_POINTER
        );
        assert_eq!(
            setopt(Some(&v), 9, 5, std::ptr::null_mut(), ok),
            STATE_USER_INPUT_NULL_POINTER
        );
        assert_eq!(setopt(Some(&v), 5, 5, data, ok), STATE_USER_INPUT_OUT_RANGE);
        assert_eq!(
            setopt(Some(&v), 4, 5, data, |_| Err(Error::UnknownOption)),
            STATE_USER_INPUT_UNKNOWN_OPTION
        );
        assert_eq!(setopt(Some(&v), 4, 5, data, ok), STATE_SUCCESS);
        let panicked = call(Some(&v), |_| -> Result<()> { panic!("a bug in the core") });
        assert_eq!(panicked, STATE_SYS_DEPEND_MALLOC_FAILED);
    }
}
