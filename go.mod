module github.com/watchword/watchword

go 1.26.8
