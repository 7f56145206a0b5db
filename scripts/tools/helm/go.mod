module vsw.local/tools/helm

go 1.26.0
