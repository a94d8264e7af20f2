#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "engine/thread_pool.h"

namespace engine {
namespace {

TEST(ThreadPool, RunsEveryItemOnce) {
    for (int threads : {1, 2, 4}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (std::size_t count : {0u, 1u, 7u, 1000u}) {
            std::vector<std::atomic<int>> hits(count);
            pool.parallel_for(count, [&](std::size_t i) { hits[i]++; });
            for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << "item " << i;
        }
    }
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
    ThreadPool pool(3);
    std::atomic<int> done{0};
    EXPECT_THROW(pool.parallel_for(50,
                                   [&](std::size_t i) {
                                       if (i == 13) throw std::runtime_error("item 13");
                                       done++;
                                   }),
                 std::runtime_error);
    EXPECT_EQ(done.load(), 49);  // the other items still ran
    std::atomic<int> again{0};
    pool.parallel_for(10, [&](std::size_t) { again++; });
    EXPECT_EQ(again.load(), 10);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
    ThreadPool pool(2);
    std::atomic<int> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
        callers.emplace_back([&] {
            for (int r = 0; r < 20; ++r) pool.parallel_for(25, [&](std::size_t) { total++; });
        });
    for (auto& t : callers) t.join();
    EXPECT_EQ(total.load(), 4 * 20 * 25);
}

}  // namespace
}  // namespace engine
