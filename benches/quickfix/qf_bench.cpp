// qf_bench: a QuickFIX C++ initiator that measures a FIX counterparty (qf_peer --echo, or a
// Gapless venue) answering each NewOrderSingle with one ExecutionReport echoing its ClOrdID.
//
// Modes:
// - roundtrip, --rate 0: one order at a time; latency from the send to its ExecutionReport.
// - roundtrip, --rate R: orders at R per second on a fixed schedule whatever the replies do
//   (open loop); latency runs from each order's *intended* send time, so a stall also counts
//   against the orders that should have gone out during it (no coordinated omission).
// - throughput: --count orders as fast as QuickFIX takes them, at most --window unanswered;
//   ExecutionReports counted per second.
//
// Latencies (nanoseconds, std::chrono::steady_clock) of the orders after --warmup go to
// --latencies FILE as little-endian u64s, one per order in order, for HdrHistogram on the Rust
// side; the program also prints nearest-rank percentiles. Replies are timestamped on QuickFIX's
// socket thread as they are parsed, so the waiting strategy of the sending thread (spinning with
// yields, to be fair to a 2-core machine) does not add to them.
#include "peer_common.h"

#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SocketInitiator.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

namespace {

using namespace gapless_qf;
using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Timestamps ExecutionReports by the order number in their ClOrdID.
class BenchApplication : public FIX::Application {
public:
  explicit BenchApplication(uint64_t orders) : arrival_(orders + 1, 0) {}

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID&) override { logged_on_ = true; }
  void onLogout(const FIX::SessionID&) override { logged_on_ = false; }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
  void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {}

  void fromApp(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::UnsupportedMessageType) override {
    const int64_t now = now_ns();
    if (message.getHeader().getField(FIX::FIELD::MsgType) != FIX::MsgType_ExecutionReport) return;
    const uint64_t n = message.isSetField(FIX::FIELD::ClOrdID) ? id_number(message.getField(FIX::FIELD::ClOrdID)) : 0;
    // Replies come in order on one session; anything else is the counterparty's error.
    if (n != answered_.load(std::memory_order_relaxed) + 1 || n >= arrival_.size()) {
      unexpected_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    arrival_[n] = now;
    answered_.store(n, std::memory_order_release); // publishes arrival_[n]
  }

  bool logged_on() const { return logged_on_; }
  // Orders 1..answered() have their ExecutionReport.
  uint64_t answered() const { return answered_.load(std::memory_order_acquire); }
  uint64_t unexpected() const { return unexpected_.load(std::memory_order_relaxed); }
  int64_t arrival(uint64_t n) const { return arrival_[n]; }

private:
  std::vector<int64_t> arrival_;
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> unexpected_{0};
  std::atomic<bool> logged_on_{false};
};

// Yields until `done()` or `deadline_ns`; false on timeout.
template <typename Done>
bool wait_until(Done done, int64_t deadline_ns) {
  while (!done()) {
    if (now_ns() > deadline_ns) return false;
    std::this_thread::yield();
  }
  return true;
}

struct Run {
  uint64_t warmup;
  uint64_t measured;
  uint64_t rate;
  uint64_t window;
  int64_t reply_timeout_ns;
};

// Sends orders 1..total in the chosen mode and returns each order's latency start (intended or
// actual send time), or throws when a reply does not come in time.
std::vector<int64_t> send_orders(FIX::Session& session, BenchApplication& app, const Run& run, bool throughput) {
  const uint64_t total = run.warmup + run.measured;
  std::vector<int64_t> start(total + 1, 0);
  const int64_t interval = run.rate ? 1000000000LL / static_cast<int64_t>(run.rate) : 0;
  const int64_t first = now_ns();
  int64_t next_report = first + 1000000000LL;
  uint64_t answered_at_report = 0;
  for (uint64_t n = 1; n <= total; ++n) {
    if (throughput) {
      if (!wait_until([&] { return app.answered() + run.window >= n; }, now_ns() + run.reply_timeout_ns))
        throw std::runtime_error("no ExecutionReport for order " + std::to_string(app.answered() + 1));
      if (now_ns() >= next_report) {
        std::cout << "second " << (next_report - first) / 1000000000LL << ": "
                  << app.answered() - answered_at_report << " ExecutionReports" << std::endl;
        answered_at_report = app.answered();
        next_report += 1000000000LL;
      }
    } else if (interval) {
      const int64_t intended = first + static_cast<int64_t>(n - 1) * interval;
      wait_until([&] { return now_ns() >= intended; }, intended + 1);
      start[n] = intended;
    }
    if (!start[n]) start[n] = now_ns();
    FIX::Message order = new_order_single(n);
    if (!session.send(order)) throw std::runtime_error("QuickFIX refused order " + std::to_string(n));
    if (!throughput && !interval &&
        !wait_until([&] { return app.answered() >= n; }, now_ns() + run.reply_timeout_ns))
      throw std::runtime_error("no ExecutionReport for order " + std::to_string(n));
  }
  if (!wait_until([&] { return app.answered() >= total; }, now_ns() + run.reply_timeout_ns))
    throw std::runtime_error("only " + std::to_string(app.answered()) + " of " + std::to_string(total) + " answered");
  return start;
}

// Nearest-rank percentile of sorted values.
uint64_t percentile(const std::vector<uint64_t>& sorted, double p) {
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

void report_latencies(const std::vector<uint64_t>& latencies, const std::string& path) {
  if (!path.empty()) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (uint64_t value : latencies) {
      unsigned char bytes[8];
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
      out.write(reinterpret_cast<const char*>(bytes), 8);
    }
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  std::vector<uint64_t> sorted(latencies);
  std::sort(sorted.begin(), sorted.end());
  std::cout << "latency_ns count=" << sorted.size() << " min=" << sorted.front() << " p50=" << percentile(sorted, 50)
            << " p90=" << percentile(sorted, 90) << " p99=" << percentile(sorted, 99)
            << " p99.9=" << percentile(sorted, 99.9) << " max=" << sorted.back() << std::endl;
}

int bench(const Options& options) {
  const std::string& mode = options.str("mode");
  if (mode != "roundtrip" && mode != "throughput") throw std::invalid_argument("--mode takes roundtrip or throughput");
  const bool throughput = mode == "throughput";
  const Run run{throughput ? 0 : options.number("warmup"), options.number("count"), options.number("rate"),
                std::max<uint64_t>(options.number("window"), 1),
                static_cast<int64_t>(options.number("reply-timeout-ms")) * 1000000LL};
  if (run.measured == 0) throw std::invalid_argument("--count must be at least 1");

  FIX::SessionID session_id;
  FIX::SessionSettings settings = session_settings(options, "initiator", session_id);
  BenchApplication app(run.warmup + run.measured);
  std::unique_ptr<FIX::MessageStoreFactory> store;
  if (options.str("store").empty()) {
    store.reset(new FIX::MemoryStoreFactory());
  } else {
    store.reset(new FIX::FileStoreFactory(settings));
  }
  FIX::SocketInitiator initiator(app, *store, settings);
  initiator.start();
  FIX::Session* session = initiator.getSession(session_id);
  if (!session) throw std::runtime_error("QuickFIX created no session");
  int64_t began = 0;
  int64_t ended = 0;
  std::vector<int64_t> start;
  try {
    if (!wait_until([&] { return app.logged_on(); }, now_ns() + 10000000000LL))
      throw std::runtime_error("no logon within 10 s");
    began = now_ns();
    start = send_orders(*session, app, run, throughput);
    ended = now_ns();
  } catch (...) {
    initiator.stop(true); // its socket thread must end before the initiator is destroyed
    throw;
  }
  initiator.stop();

  const uint64_t total = run.warmup + run.measured;
  if (throughput) {
    const double seconds = static_cast<double>(app.arrival(total) - began) / 1e9;
    std::cout << "throughput orders=" << total << " seconds=" << seconds
              << " execution_reports_per_second=" << static_cast<uint64_t>(static_cast<double>(total) / seconds)
              << " unexpected=" << app.unexpected() << std::endl;
    return app.unexpected() ? 1 : 0;
  }
  std::vector<uint64_t> latencies;
  latencies.reserve(run.measured);
  for (uint64_t n = run.warmup + 1; n <= total; ++n) latencies.push_back(static_cast<uint64_t>(app.arrival(n) - start[n]));
  std::cout << "roundtrip orders=" << total << " warmup=" << run.warmup << " rate=" << run.rate
            << (run.rate ? " (latency from intended send time)" : " (closed loop)")
            << " seconds=" << static_cast<double>(ended - began) / 1e9 << " unexpected=" << app.unexpected()
            << std::endl;
  report_latencies(latencies, options.str("latencies"));
  return app.unexpected() ? 1 : 0;
}

const char* const usage =
    "usage: qf_bench [--mode roundtrip|throughput] [--count N] [--warmup N] [--rate PER_SECOND]\n"
    "                [--window N] [--latencies FILE] [--reply-timeout-ms MS] [--version V]\n"
    "                [--host H] [--port P] [--sender ID] [--target ID] [--store DIR]\n"
    "                [--heartbeat S] [--reset-on-logon Y|N]\n";

} // namespace

int main(int argc, char** argv) {
  try {
    std::map<std::string, std::string> defaults = session_option_defaults("initiator");
    defaults.insert({{"mode", "roundtrip"}, {"count", "10000"}, {"warmup", "1000"}, {"rate", "0"},
                     {"window", "1000"}, {"latencies", ""}, {"reply-timeout-ms", "5000"}});
    return bench(Options(argc, argv, defaults, {}));
  } catch (const std::invalid_argument& e) {
    std::cerr << "qf_bench: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qf_bench: " << e.what() << std::endl;
    return 1;
  }
}
