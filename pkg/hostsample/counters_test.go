package hostsample

import (
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

// f returns a pointer to v, for expected rates.
func f(v float64) *float64 { return &v }

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		ok        bool
		secs      float64
		want      *float64
	}{
		{"steady", 100, 600, true, 10, f(50)},
		{"unchanged", 100, 100, true, 10, f(0)},
		{"no previous reading", 0, 600, false, 10, nil},
		{"reset", 1 << 40, 5, true, 10, nil},
		{"32-bit wrap", 1<<32 - 10, 20, true, 10, nil},
		{"no time passed", 100, 600, true, 0, nil},
		{"clock went back", 100, 600, true, -5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Rate(tt.prev, tt.cur, tt.ok, tt.secs))
		})
	}
}

func TestCPUPercent(t *testing.T) {
	prev := cpu.TimesStat{User: 10, System: 5, Idle: 80, Iowait: 5}
	tests := []struct {
		name      string
		cur       cpu.TimesStat
		wantUsage *float64
		wantModes *wire.CPUModeTime
	}{
		{
			name:      "busy half the time",
			cur:       cpu.TimesStat{User: 14, System: 6, Idle: 84, Iowait: 6},
			wantUsage: f(50),
			wantModes: &wire.CPUModeTime{User: 40, System: 10, Idle: 40, IOWait: 10},
		},
		{
			name:      "iowait went backwards: counted as zero",
			cur:       cpu.TimesStat{User: 13, System: 6, Idle: 84, Iowait: 4},
			wantUsage: f(50),
			wantModes: &wire.CPUModeTime{User: 37.5, System: 12.5, Idle: 50},
		},
		{
			name: "counters reset",
			cur:  cpu.TimesStat{User: 1, System: 1, Idle: 3},
		},
		{
			name: "no time passed",
			cur:  prev,
		},
		{
			name:      "guest is inside user, not added",
			cur:       cpu.TimesStat{User: 14, System: 6, Idle: 84, Iowait: 6, Guest: 4, GuestNice: 7},
			wantUsage: f(50),
			wantModes: &wire.CPUModeTime{User: 40, System: 10, Idle: 40, IOWait: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usage, modes := cpuPercent(prev, tt.cur)
			assert.Equal(t, tt.wantUsage, usage)
			assert.Equal(t, tt.wantModes, modes)
		})
	}
}

func TestDefaultExcludes(t *testing.T) {
	tests := []struct {
		patterns []string
		name     string
		excluded bool
	}{
		{DefaultExcludeInterfaces, "lo", true},
		{DefaultExcludeInterfaces, "eth0", false},
		{DefaultExcludeInterfaces, "ens5", false},
		{DefaultExcludeInterfaces, "bond0", false},
		{DefaultExcludeInterfaces, "veth3f1c2a9", true},
		{DefaultExcludeInterfaces, "cali8d2e0f1b9c4", true},
		{DefaultExcludeInterfaces, "flannel.1", true},
		{DefaultExcludeInterfaces, "cni0", true},
		{DefaultExcludeInterfaces, "docker0", true},
		{DefaultExcludeInterfaces, "kube-ipvs0", true},
		{DefaultExcludeInterfaces, "cilium_host", true},
		{DefaultExcludeInterfaces, "lxc12ab", true},
		{DefaultExcludeInterfaces, "vxlan.calico", true},
		{DefaultExcludeInterfaces, "3f2a9c1b0d4e5f6", true},
		{DefaultExcludeInterfaces, "eni1a2b3c4d5e6", true},
		{DefaultExcludeInterfaces, "gke3a4b5c6d7e8", true},
		{DefaultExcludeInterfaces, "ovn-k8s-mp0", true},
		{DefaultExcludeInterfaces, "genev_sys_6081", true},
		{DefaultExcludeInterfaces, "br-int", true},
		{DefaultExcludeInterfaces, "br-ex", true},
		{DefaultExcludeInterfaces, "ovs-system", true},
		{DefaultExcludeInterfaces, "enp3s0f0", false},
		{DefaultExcludeInterfaces, "eno1", false},
		{DefaultExcludeInterfaces, "ib0", false},
		{DefaultExcludeInterfaces, "eth0.100", false},
		{DefaultExcludeInterfaces, "3f2a9c1b0d4e5f", false},
		{DefaultExcludeDisks, "sda", false},
		{DefaultExcludeDisks, "sda1", true},
		{DefaultExcludeDisks, "sdab12", true},
		{DefaultExcludeDisks, "vdb", false},
		{DefaultExcludeDisks, "xvda1", true},
		{DefaultExcludeDisks, "nvme0n1", false},
		{DefaultExcludeDisks, "nvme0n1p2", true},
		{DefaultExcludeDisks, "mmcblk0", false},
		{DefaultExcludeDisks, "mmcblk0p1", true},
		{DefaultExcludeDisks, "dm-0", false},
		{DefaultExcludeDisks, "md127", false},
		{DefaultExcludeDisks, "loop12", true},
		{DefaultExcludeDisks, "ram0", true},
		{DefaultExcludeDisks, "zram0", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.excluded, matchAny(tt.patterns, tt.name), tt.name)
	}
}

func TestOptions(t *testing.T) {
	require.NoError(t, NewOptions().Validate())
	err := Options{ExcludeInterfaces: []string{"eth[0"}}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"eth[0"`)
	err = Options{IncludeInterfaces: []string{"veth", "br[-"}}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"br[-"`)

	o := Options{HostProc: "/host/proc/", ExcludeDisks: []string{}}.withDefaults()
	assert.Equal(t, "/host/proc", o.HostProc)
	assert.Equal(t, "/sys", o.HostSys)
	assert.Equal(t, "/", o.HostRoot)
	assert.Nil(t, o.ExcludeInterfaces, "no interface override unless asked")
	assert.Nil(t, o.IncludeInterfaces)
	assert.Empty(t, o.ExcludeDisks, "empty means exclude nothing")
	assert.NotNil(t, o.Now)
}
