module vsw.local/tools/kube

go 1.26.0
