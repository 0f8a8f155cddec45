// Storage probe: device kinds read from a fake sysfs tree built for the real st_dev of scratch
// files (so the tests pass whether the temp dir is on ext4, tmpfs or overlay), the depth per kind,
// the choice across inputs and outputs, and a probe of this machine's real /sys.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tbbpipe/storage.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

dev_t device_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_dev;
}

std::string dev_id(dev_t dev) {
    return std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
}

StorageInfo info_for(StorageType type, int nr_requests) {
    StorageInfo info;
    info.type = type;
    info.nr_requests = nr_requests;
    return info;
}

void write_text(const fs::path& file, const std::string& text) {
    std::ofstream out(file);
    out << text;
}

// A sysfs tree shaped like the kernel's: devices/.../block/<disk>[/<partition>] folders, and
// dev/block/<maj>:<min> relative symlinks pointing at them.
class FakeSysfs {
public:
    explicit FakeSysfs(std::string root) : root_(std::move(root)) {
        fs::create_directories(fs::path(root_) / "dev" / "block");
    }
    const std::string& root() const { return root_; }

    /// A whole disk; nr_requests 0 leaves the attribute out, rotational "" leaves queue/ empty.
    fs::path add_disk(const std::string& name, const std::string& rotational, int nr_requests) {
        fs::path disk = fs::path(root_) / "devices" / "pci0000:00" / "block" / name;
        fs::create_directories(disk / "queue");
        if (!rotational.empty()) write_text(disk / "queue" / "rotational", rotational + "\n");
        if (nr_requests > 0) {
            write_text(disk / "queue" / "nr_requests", std::to_string(nr_requests) + "\n");
        }
        return disk;
    }
    fs::path add_partition(const fs::path& disk, const std::string& name) {
        fs::path part = disk / name;
        fs::create_directories(part);
        write_text(part / "partition", "1\n");
        return part;
    }
    void link(dev_t dev, const fs::path& target) {
        const fs::path folder = fs::path(root_) / "dev" / "block";
        fs::create_directory_symlink(target.lexically_relative(folder), folder / dev_id(dev));
    }

private:
    std::string root_;
};

// Scratch space: a data file whose device the fake tree describes, and the fake tree itself
// (on the same device, which does not matter: only st_dev of the probed path is looked up).
struct ProbeFixture : ::testing::Test {
    ScratchDir scratch;
    std::string file = scratch / "input.bin";
    FakeSysfs sysfs{scratch / "sys"};
    void SetUp() override { write_text(file, "data"); }
};

TEST_F(ProbeFixture, NvmeWholeDisk) {
    sysfs.link(device_of(file), sysfs.add_disk("nvme0n1", "0", 1023));
    const auto info = probe_storage(file, sysfs.root());
    EXPECT_EQ(info.path, file);
    EXPECT_EQ(info.type, StorageType::kNvme);
    EXPECT_EQ(info.device, "nvme0n1");
    EXPECT_EQ(info.nr_requests, 1023);
    EXPECT_NE(info.reason.find("rotational=0"), std::string::npos) << info.reason;
    EXPECT_EQ(io_depth_for(info), 32);
}

TEST_F(ProbeFixture, SataSsdPartitionUsesTheWholeDiskQueue) {
    const auto disk = sysfs.add_disk("sda", "0", 64);
    sysfs.link(device_of(file), sysfs.add_partition(disk, "sda1"));
    const auto info = probe_storage(file, sysfs.root());
    EXPECT_EQ(info.type, StorageType::kSsd);
    EXPECT_EQ(info.device, "sda");  // the whole disk, not the partition
    EXPECT_EQ(info.nr_requests, 64);
    EXPECT_NE(info.reason.find("partition sda1"), std::string::npos) << info.reason;
    EXPECT_EQ(io_depth_for(info), 8);
}

TEST_F(ProbeFixture, RotatingDiskIsHdd) {
    const auto disk = sysfs.add_disk("sdb", "1", 64);
    sysfs.link(device_of(file), sysfs.add_partition(disk, "sdb2"));
    const auto info = probe_storage(file, sysfs.root());
    EXPECT_EQ(info.type, StorageType::kHdd);
    EXPECT_EQ(info.device, "sdb");
    EXPECT_NE(info.reason.find("rotational=1"), std::string::npos) << info.reason;
    EXPECT_EQ(io_depth_for(info), 2);
}

// "nvme" in the name is not enough: a rotating device is an HDD whatever it is called.
TEST_F(ProbeFixture, RotationalWinsOverTheName) {
    sysfs.link(device_of(file), sysfs.add_disk("nvme9n1", "1", 0));
    EXPECT_EQ(probe_storage(file, sysfs.root()).type, StorageType::kHdd);
}

TEST_F(ProbeFixture, NrRequestsClampsTheDepth) {
    sysfs.link(device_of(file), sysfs.add_disk("nvme1n1", "0", 4));
    const auto info = probe_storage(file, sysfs.root());
    EXPECT_EQ(info.type, StorageType::kNvme);
    EXPECT_EQ(io_depth_for(info), 4);
}

TEST(IoDepth, ClampedByNrRequestsAndNeverBelowOne) {
    EXPECT_EQ(io_depth_for(info_for(StorageType::kSsd, 3)), 3);
    EXPECT_EQ(io_depth_for(info_for(StorageType::kNvme, 1)), 1);
    EXPECT_EQ(io_depth_for(info_for(StorageType::kNvme, 0)), 32);  // unknown
    EXPECT_EQ(io_depth_for(info_for(StorageType::kHdd, 256)), 2);  // larger
    EXPECT_EQ(io_depth_for(info_for(StorageType::kHdd, -7)), 2);   // nonsense
    EXPECT_EQ(io_depth_for(info_for(StorageType::kUnknown, 0)), 4);
    EXPECT_EQ(io_depth_for(info_for(StorageType::kAuto, 0)), 4);
}

TEST_F(ProbeFixture, MissingEntryIsUnknownWithReason) {
    const auto info = probe_storage(file, sysfs.root());  // the tree has no dev/block entries
    EXPECT_EQ(info.type, StorageType::kUnknown);
    EXPECT_TRUE(info.device.empty());
    EXPECT_EQ(info.nr_requests, 0);
    EXPECT_NE(info.reason.find(dev_id(device_of(file))), std::string::npos) << info.reason;
    EXPECT_EQ(io_depth_for(info), 4);
}

TEST_F(ProbeFixture, EntryWithoutRotationalIsUnknownButNamed) {
    sysfs.link(device_of(file), sysfs.add_disk("vdz", "", 128));
    const auto info = probe_storage(file, sysfs.root());
    EXPECT_EQ(info.type, StorageType::kUnknown);
    EXPECT_EQ(info.device, "vdz");
    EXPECT_NE(info.reason.find("rotational"), std::string::npos) << info.reason;
}

TEST_F(ProbeFixture, NonexistentOutputProbesItsNearestExistingParent) {
    sysfs.link(device_of(scratch.path()), sysfs.add_disk("sdc", "1", 0));
    const std::string output = scratch / "not/yet/out.tbp";
    const auto info = probe_storage(output, sysfs.root());
    EXPECT_EQ(info.path, output);
    EXPECT_EQ(info.type, StorageType::kHdd);
    EXPECT_EQ(info.device, "sdc");
    EXPECT_NE(info.reason.find("parent " + scratch.path() + ","), std::string::npos) << info.reason;
}

TEST_F(ProbeFixture, StreamHasNoDevice) {
    sysfs.link(device_of("."), sysfs.add_disk("nvme0n1", "0", 0));  // must not be used for "-"
    const auto info = probe_storage("-", sysfs.root());
    EXPECT_EQ(info.type, StorageType::kUnknown);
    EXPECT_NE(info.reason.find("stream"), std::string::npos) << info.reason;
}

// One slow device paces the run. The second device is /proc's (major 0): the fake tree describes
// it too, which also proves the entry is looked up before major 0 is judged.
TEST_F(ProbeFixture, ChooseIoDepthTakesTheSmallestAcrossPaths) {
    const dev_t other = device_of("/proc");
    if (other == device_of(scratch.path())) GTEST_SKIP() << "/proc shares the scratch device";
    sysfs.link(other, sysfs.add_disk("sdd", "1", 64));
    sysfs.link(device_of(scratch.path()), sysfs.add_disk("nvme0n1", "0", 1023));
    const std::string output = scratch / "out.tbp";

    const auto hdd_first = choose_io_depth({"/proc", output}, StorageType::kAuto, sysfs.root());
    EXPECT_EQ(hdd_first.io_tokens, 2);
    EXPECT_EQ(hdd_first.type, StorageType::kHdd);
    ASSERT_EQ(hdd_first.probed.size(), 2u);
    EXPECT_EQ(hdd_first.probed[0].type, StorageType::kHdd);
    EXPECT_EQ(hdd_first.probed[1].type, StorageType::kNvme);
    EXPECT_NE(hdd_first.reason.find("/proc"), std::string::npos) << hdd_first.reason;

    const auto hdd_last =
        choose_io_depth({file, output, "/proc"}, StorageType::kAuto, sysfs.root());
    EXPECT_EQ(hdd_last.io_tokens, 2);
    EXPECT_EQ(hdd_last.type, StorageType::kHdd);
    EXPECT_EQ(hdd_last.probed.size(), 3u);

    const auto nvme_only = choose_io_depth({file, output}, StorageType::kAuto, sysfs.root());
    EXPECT_EQ(nvme_only.io_tokens, 32);
    EXPECT_EQ(nvme_only.type, StorageType::kNvme);
}

// The fake tree says HDD, the override says NVMe: the override's depth and no probe results.
TEST_F(ProbeFixture, OverrideSkipsProbing) {
    sysfs.link(device_of(file), sysfs.add_disk("sde", "1", 64));
    const auto choice = choose_io_depth({file}, StorageType::kNvme, sysfs.root());
    EXPECT_EQ(choice.io_tokens, 32);
    EXPECT_EQ(choice.type, StorageType::kNvme);
    EXPECT_TRUE(choice.probed.empty());
    EXPECT_NE(choice.reason.find("nvme"), std::string::npos) << choice.reason;

    const auto hdd = choose_io_depth({"/no/such/path"}, StorageType::kHdd, "/no/such/sysfs");
    EXPECT_EQ(hdd.io_tokens, 2);
    EXPECT_EQ(hdd.type, StorageType::kHdd);
    EXPECT_EQ(choose_io_depth({}, StorageType::kSsd).io_tokens, 8);
}

TEST(ChooseIoDepth, NoPathsGetsTheUnknownDefault) {
    const auto choice = choose_io_depth({}, StorageType::kAuto, "/no/such/sysfs");
    EXPECT_EQ(choice.io_tokens, 4);
    EXPECT_EQ(choice.type, StorageType::kUnknown);
    EXPECT_TRUE(choice.probed.empty());
}

TEST(StorageTypeNames, ParseAcceptsTheFlagValuesOnly) {
    EXPECT_EQ(parse_storage_type("nvme"), StorageType::kNvme);
    EXPECT_EQ(parse_storage_type("ssd"), StorageType::kSsd);
    EXPECT_EQ(parse_storage_type("hdd"), StorageType::kHdd);
    EXPECT_EQ(parse_storage_type("auto"), StorageType::kAuto);
    for (const char* bad : {"", "unknown", "NVMe", "HDD", "ssd ", "tmpfs", "nvme0n1"}) {
        EXPECT_EQ(parse_storage_type(bad), std::nullopt) << '"' << bad << '"';
    }
    for (const auto type :
         {StorageType::kAuto, StorageType::kNvme, StorageType::kSsd, StorageType::kHdd}) {
        EXPECT_EQ(parse_storage_type(storage_type_name(type)), type);
    }
    EXPECT_EQ(storage_type_name(StorageType::kUnknown), "unknown");
}

// Whatever this machine is (bare metal, VM, container on overlay), the real /sys must give an
// answer, not an exception; /proc never has a block device.
TEST(RealSysfs, ProbeDoesNotThrow) {
    ScratchDir scratch;
    for (const std::string& path : {scratch.path(), std::string("/"), scratch / "missing/out"}) {
        StorageInfo info;
        EXPECT_NO_THROW(info = probe_storage(path)) << path;
        EXPECT_NE(info.type, StorageType::kAuto) << path;
        EXPECT_FALSE(info.reason.empty()) << path;
        if (info.type != StorageType::kUnknown) {
            EXPECT_FALSE(info.device.empty()) << info.reason;
        }
        const int depth = io_depth_for(info);
        EXPECT_GE(depth, 1);
        EXPECT_LE(depth, 32);
    }
    const auto proc = probe_storage("/proc");
    EXPECT_EQ(proc.type, StorageType::kUnknown);
    EXPECT_NE(proc.reason.find("no block device"), std::string::npos) << proc.reason;

    IoDepthChoice choice;
    EXPECT_NO_THROW(choice = choose_io_depth({scratch.path(), "/", "/proc"}));
    EXPECT_LE(choice.io_tokens, 4);  // /proc is unknown (4), and the smallest depth wins
    EXPECT_GE(choice.io_tokens, 1);
    EXPECT_EQ(choice.probed.size(), 3u);
}

}  // namespace
}  // namespace tbbpipe
