// C ABI over the Verilated fix_seqcheck model, for crates/hwsim/src/ffi.rs.
// One call per clock cycle: set the inputs, settle, read the outputs (which decide this
// cycle's handshakes), then the rising edge.
#include <cstdint>
#include <cstring>

#include "Vfix_seqcheck.h"
#include "verilated.h"

struct HwsimInputs {
    uint64_t tdata;
    uint8_t tkeep;
    uint8_t tlast;
    uint16_t tuser;
    uint8_t tvalid;
    uint8_t cmd_valid;
    uint8_t desc_ready;
    uint8_t cmd[16];
};

struct HwsimOutputs {
    uint8_t tready;
    uint8_t cmd_ready;
    uint8_t desc_valid;
    uint8_t desc[64];
};

struct Hwsim {
    VerilatedContext context;
    Vfix_seqcheck model{&context};
};

static void apply(Vfix_seqcheck &m, const HwsimInputs &in) {
    m.s_tdata = in.tdata;
    m.s_tkeep = in.tkeep;
    m.s_tlast = in.tlast;
    m.s_tuser = in.tuser;
    m.s_tvalid = in.tvalid;
    m.cmd_valid = in.cmd_valid;
    m.m_desc_ready = in.desc_ready;
    for (int word = 0; word < 4; ++word) {
        uint32_t w;
        std::memcpy(&w, in.cmd + 4 * word, 4);  // little-endian, as the contract
        m.cmd_data[word] = w;
    }
}

static void edge(Vfix_seqcheck &m) {
    m.clk = 1;
    m.eval();
    m.clk = 0;
    m.eval();
}

extern "C" {

Hwsim *hwsim_create() { return new Hwsim; }

void hwsim_destroy(Hwsim *sim) { delete sim; }

void hwsim_reset(Hwsim *sim) {
    Vfix_seqcheck &m = sim->model;
    HwsimInputs idle{};
    apply(m, idle);
    m.rst = 1;
    m.clk = 0;
    m.eval();
    edge(m);
    edge(m);
    m.rst = 0;
    m.eval();
}

void hwsim_cycle(Hwsim *sim, const HwsimInputs *in, HwsimOutputs *out) {
    Vfix_seqcheck &m = sim->model;
    apply(m, *in);
    m.eval();
    out->tready = m.s_tready;
    out->cmd_ready = m.cmd_ready;
    out->desc_valid = m.m_desc_valid;
    for (int word = 0; word < 16; ++word) {
        uint32_t w = m.m_desc_data[word];
        std::memcpy(out->desc + 4 * word, &w, 4);
    }
    edge(m);
}

}  // extern "C"
