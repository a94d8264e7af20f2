#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

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

TEST(ThreadPool, ConcurrentCallersEachRunTheirOwnItems) {
    ThreadPool pool(2);
    std::atomic<int> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
        callers.emplace_back([&, c] {
            for (int r = 0; r < 20; ++r) {
                std::vector<int> hits(25);
                pool.parallel_for(hits.size(), [&](std::size_t i) {
                    hits[i]++;
                    total++;
                });
                for (int h : hits) ASSERT_EQ(h, 1) << "caller " << c;
            }
        });
    for (auto& t : callers) t.join();
    EXPECT_EQ(total.load(), 4 * 20 * 25);
}

// A caller blocked in its own item does not stop another caller: the second
// one runs its items itself (or on the idle worker) and returns.
TEST(ThreadPool, ABusyJobDoesNotBlockAnotherCaller) {
    ThreadPool pool(2);
    std::atomic<bool> release{false}, second_done{false};
    std::thread first([&] {
        pool.parallel_for(2, [&](std::size_t) {
            while (!release) std::this_thread::yield();
        });
    });
    std::thread second([&] {
        std::atomic<int> n{0};
        pool.parallel_for(8, [&](std::size_t) { n++; });
        EXPECT_EQ(n.load(), 8);
        second_done = true;
    });
    second.join();
    EXPECT_TRUE(second_done);
    release = true;
    first.join();
}

TEST(ThreadPool, NestedCallsComplete) {
    for (int threads : {1, 2, 4}) {
        ThreadPool pool(threads);
        std::atomic<int> total{0};
        pool.parallel_for(6, [&](std::size_t) { pool.parallel_for(7, [&](std::size_t) { total++; }); });
        EXPECT_EQ(total.load(), 42) << threads << " threads";
    }
}

}  // namespace
}  // namespace engine
