//! The C ABI of `csrc/shim.cpp`, and the only unsafe code of the crate.

use core::ffi::c_void;
use core::ptr::NonNull;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inputs {
    pub tdata: u64,
    pub tkeep: u8,
    pub tlast: u8,
    pub tuser: u16,
    pub tvalid: u8,
    pub cmd_valid: u8,
    pub desc_ready: u8,
    pub cmd: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outputs {
    pub tready: u8,
    pub cmd_ready: u8,
    pub desc_valid: u8,
    pub desc: [u8; 64],
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            tready: 0,
            cmd_ready: 0,
            desc_valid: 0,
            desc: [0; 64],
        }
    }
}

unsafe extern "C" {
    fn hwsim_create() -> *mut c_void;
    fn hwsim_destroy(sim: *mut c_void);
    fn hwsim_reset(sim: *mut c_void);
    fn hwsim_cycle(sim: *mut c_void, inputs: *const Inputs, outputs: *mut Outputs);
}

/// An owned Verilated model.
#[derive(Debug)]
pub(crate) struct Model {
    sim: NonNull<c_void>,
}

impl Model {
    pub(crate) fn new() -> Model {
        // SAFETY: hwsim_create takes no arguments and returns a new heap object (C++ `new`,
        // which aborts rather than return null on failure).
        let sim = unsafe { hwsim_create() };
        let sim = NonNull::new(sim).expect("hwsim_create returned null");
        let mut model = Model { sim };
        model.reset();
        model
    }

    /// Holds reset for two cycles.
    pub(crate) fn reset(&mut self) {
        // SAFETY: `self.sim` came from hwsim_create and is destroyed only in Drop.
        unsafe { hwsim_reset(self.sim.as_ptr()) }
    }

    /// One clock cycle: applies `inputs`, returns the outputs seen before the rising edge.
    pub(crate) fn cycle(&mut self, inputs: &Inputs) -> Outputs {
        let mut outputs = Outputs::default();
        // SAFETY: `self.sim` is live (see reset); both pointers come from references valid for
        // the call, and the shim only reads `inputs` and writes `outputs`.
        unsafe { hwsim_cycle(self.sim.as_ptr(), inputs, &mut outputs) };
        outputs
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `self.sim` came from hwsim_create and is not used after this.
        unsafe { hwsim_destroy(self.sim.as_ptr()) }
    }
}
