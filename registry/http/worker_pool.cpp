#include "registry/http/detail/worker_pool.h"

namespace iotreg::http {

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
  running_threads_ = threads;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(std::chrono::steady_clock::time_point::max()); }

bool WorkerPool::try_submit(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  work_.notify_one();
  return true;
}

bool WorkerPool::stop(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (threads_.empty()) return true;
  stopping_ = true;
  work_.notify_all();
  const auto all_ended = [&] { return running_threads_ == 0; };
  bool ended = true;
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    ended_.wait(lock, all_ended);
  } else {
    ended = ended_.wait_until(lock, deadline, all_ended);
  }
  lock.unlock();
  for (auto& thread : threads_) {
    if (ended) {
      thread.join();
    } else {
      thread.detach();
    }
  }
  threads_.clear();
  return ended;
}

void WorkerPool::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and nothing left to do
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();  // tasks catch what they throw: see ConnectionLoop
    task = nullptr;
    lock.lock();
  }
  --running_threads_;
  ended_.notify_all();
}

}  // namespace iotreg::http
