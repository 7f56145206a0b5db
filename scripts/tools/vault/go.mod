module vsw.local/tools/vault

go 1.26.0
