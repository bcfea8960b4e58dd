module example.com/sample/svc

go 1.19
