// WorkerPool: a fixed number of threads that run the server's request work, with a bounded
// queue. Private to registry/http.
//
// The connection loop submits complete requests; when every thread is busy and the queue is
// full, try_submit() refuses at once (the loop answers 503) rather than let work pile up.
// Thread-safe. stop() must be called before destruction when threads might still be running.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace iotreg::http {

class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t max_queued);
  ~WorkerPool();  // stop() without a deadline, unless stop() already ended the threads
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false when the queue is full or the pool is stopping.
  bool try_submit(std::function<void()> task);
  // Refuses new tasks, lets the threads finish what is queued and running, and ends them.
  // Returns false when some thread was still running at `deadline`: the threads are then left
  // running, detached, and the caller must end the process without freeing what they use.
  bool stop(std::chrono::steady_clock::time_point deadline);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable ended_;
  std::deque<std::function<void()>> queue_;
  std::size_t max_queued_;
  std::size_t running_threads_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace iotreg::http
