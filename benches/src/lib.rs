//! Shared harness for pydbm's side-by-side benchmarks.

use std::ffi::{c_void, CStr};

/// A reference's shared library opened with `dlopen`, so a benchmark can call its C API
/// without linking against it (the bench builds where the library is missing, and says so).
/// The library stays loaded for the life of the process.
#[derive(Debug)]
pub struct SharedLibrary(*mut c_void);

impl SharedLibrary {
    /// `dlopen(name, RTLD_NOW | RTLD_LOCAL)`; `None` when the library cannot be loaded.
    pub fn open(name: &CStr) -> Option<SharedLibrary> {
        // SAFETY: `name` is NUL-terminated; dlopen has no other precondition.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!handle.is_null()).then_some(SharedLibrary(handle))
    }

    /// The symbol `name` as a value of type `T`; `None` when the library has no such symbol.
    ///
    /// # Safety
    /// `T` must be the `unsafe extern "C" fn` type of the symbol's C prototype.
    pub unsafe fn get<T: Copy>(&self, name: &CStr) -> Option<T> {
        assert_eq!(
            std::mem::size_of::<T>(),
            std::mem::size_of::<*mut c_void>(),
            "a symbol is read as a function pointer"
        );
        // SAFETY: the handle came from dlopen and `name` is NUL-terminated.
        let p = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        // SAFETY: the caller promises `T` is the symbol's function pointer type, which has
        // the size of a data pointer (checked above).
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
    }
}
