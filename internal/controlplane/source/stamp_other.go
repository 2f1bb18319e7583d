//go:build !linux

package source

import "os"

// sysStamp is not implemented here: every scan reads every file.
func sysStamp(os.FileInfo) (dev, ino uint64, ctime int64, ok bool) {
	return 0, 0, 0, false
}
