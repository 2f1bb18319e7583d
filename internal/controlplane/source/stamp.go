package source

import (
	"os"
	"time"
)

// racyWindow is how long after a file's last change its stamp is not
// trusted: a file changed this close to when it was read may change again
// within the same timestamp tick (coarse on some filesystems) with the same
// size, which its stamp would not show.
const racyWindow = 2 * time.Second

// fileStamp identifies one version of a file without reading it: the
// device and inode of the resolved file (a ConfigMap's "..data" swap points
// every name at a new file), its size, and its modification and change
// times (ctime moves on every write, even when mtime is put back).
type fileStamp struct {
	valid        bool
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // Unix nanoseconds
}

// stampOf returns the stamp of a file stat'ed through its symlinks; it is
// not valid where the platform does not expose the inode.
func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	st.dev, st.ino, st.ctime, st.valid = sysStamp(fi)
	return st
}

// unchangedSince reports whether a file read at readAt with stamp prev is
// certainly the same file as one now stat'ed with stamp now. When unsure it
// says no, and the file is read again.
func (prev fileStamp) unchangedSince(readAt time.Time, now fileStamp) bool {
	if !prev.valid || !now.valid || prev != now {
		return false
	}
	return max(prev.mtime, prev.ctime) < readAt.Add(-racyWindow).UnixNano()
}
